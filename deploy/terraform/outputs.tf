output "ecr_repository_url" {
  description = "Push the image here (docker push <url>:<image_tag>)."
  value       = aws_ecr_repository.main.repository_url
}

output "artifacts_bucket" {
  description = "STUDENTOPS_TRACKING_SERVER_ARTIFACTS = s3://<this>/mlflow on the MLflow server."
  value       = aws_s3_bucket.main["artifacts"].id
}

output "data_bucket" {
  description = "Bucket for exports and scored lists."
  value       = aws_s3_bucket.main["data"].id
}

output "db_endpoint" {
  description = "PostgreSQL host:port; the master password is in the secret below."
  value       = aws_db_instance.main.endpoint
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret holding the generated master password."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "streams" {
  description = "Kinesis stream names: events in, results out, dead letters."
  value       = { for k, s in aws_kinesis_stream.main : k => s.name }
}

output "tracking_server_role_arn" {
  description = "Role for the MLflow server's task or instance (artifacts bucket access)."
  value       = aws_iam_role.tracking.arn
}

output "alarms_topic_arn" {
  description = "SNS topic of every CloudWatch alarm."
  value       = aws_sns_topic.alarms.arn
}
