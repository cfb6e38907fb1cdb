variable "aws_region" {
  description = "AWS region of every resource."
  type        = string
}

variable "environment" {
  description = "Environment name (staging, production); part of every resource name."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.environment))
    error_message = "environment: lower-case letters, digits and dashes."
  }
}

variable "vpc_id" {
  description = "VPC holding the database and the Lambda function."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two or more zones) for the database and the Lambda function."
  type        = list(string)
}

variable "app_cidr_blocks" {
  description = "Networks of the team's servers (MLflow server, API, workers) allowed to reach PostgreSQL."
  type        = list(string)
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage, GB (grows automatically up to 4x)."
  type        = number
}

variable "db_multi_az" {
  description = "Standby in a second zone."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "kinesis_retention_hours" {
  description = "How long the event streams keep records (24 to 8760)."
  type        = number
  default     = 24
}

variable "image_tag" {
  description = "Tag of the studentops image in ECR that the Lambda function runs (immutable tags: one per release)."
  type        = string
}

variable "lambda_memory_mb" {
  description = "Lambda memory, MB (CPU grows with it)."
  type        = number
}

variable "lambda_timeout_s" {
  description = "Lambda timeout, seconds."
  type        = number
  default     = 120
}

variable "lambda_reserved_concurrency" {
  description = "Most concurrent Lambda executions (one per shard is enough for Kinesis)."
  type        = number
}

variable "lambda_batch_size" {
  description = "Kinesis records per invocation."
  type        = number
  default     = 500
}

variable "lambda_batching_window_s" {
  description = "Longest the event source waits to fill a batch, seconds."
  type        = number
  default     = 1
}

variable "lambda_max_retries" {
  description = "Retries of a failed batch before its records go to the on-failure queue."
  type        = number
  default     = 5
}

variable "serve_profile" {
  description = "Profile whose champion the Lambda function scores with (STUDENTOPS_SERVE_PROFILE)."
  type        = string
}

variable "tracking_uri" {
  description = "URL of the team's MLflow server (STUDENTOPS_TRACKING_URI); artifacts are proxied, so the function needs no S3 access."
  type        = string
}

variable "prediction_log_url" {
  description = "PostgreSQL URL of the prediction log (STUDENTOPS_PREDICTION_LOG_URL). Secret: pass as TF_VAR_prediction_log_url."
  type        = string
  sensitive   = true
}

variable "pseudonym_key" {
  description = "Key of the student-id pseudonymiser (STUDENTOPS_PSEUDONYM_KEY). Secret: pass as TF_VAR_pseudonym_key."
  type        = string
  sensitive   = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "Address subscribed to the alarms topic (empty: no subscription)."
  type        = string
  default     = ""
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the oldest unprocessed event is older than this, milliseconds."
  type        = number
  default     = 60000
}
