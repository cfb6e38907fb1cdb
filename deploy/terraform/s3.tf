# Buckets: MLflow artifacts (written by the tracking server only), data (exports, scored
# lists), and the access logs of both.
locals {
  buckets = {
    artifacts = "${local.name}-artifacts-${local.account_id}"
    data      = "${local.name}-data-${local.account_id}"
  }
}

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:this is the access-log bucket; logging it into itself would loop
  # checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice left to the team
  # checkov:skip=CKV2_AWS_62:nothing consumes events of the log bucket
  bucket = "${local.name}-access-logs-${local.account_id}"
}

resource "aws_s3_bucket" "main" {
  # checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice left to the team
  # checkov:skip=CKV2_AWS_62:nothing consumes bucket events; MLflow and the flows read on demand
  for_each = local.buckets
  bucket   = each.value
}

locals {
  all_buckets = merge({ for k, b in aws_s3_bucket.main : k => b.id }, { logs = aws_s3_bucket.logs.id })
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = local.all_buckets
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "all" {
  for_each = local.all_buckets
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "all" {
  for_each = local.all_buckets
  bucket   = each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "all" {
  for_each = local.all_buckets
  bucket   = each.value
  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "main" {
  for_each      = aws_s3_bucket.main
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"
}
