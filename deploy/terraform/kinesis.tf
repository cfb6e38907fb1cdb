# Events in, results out, and a dead-letter stream for poison events (docs/streaming.md).
locals {
  streams = {
    events  = "${local.name}-events"
    results = "${local.name}-results"
    dead    = "${local.name}-events-dead"
  }
}

resource "aws_kinesis_stream" "main" {
  for_each         = local.streams
  name             = each.value
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.main.arn
  stream_mode_details {
    stream_mode = "ON_DEMAND"
  }
}

# Batches that still fail after the retries are described here (stream, shard, sequence range).
resource "aws_sqs_queue" "lambda_failures" {
  name                      = "${local.name}-lambda-failures"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600
}
