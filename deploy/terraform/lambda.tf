# The stream scorer: the same image as every other role, run with the `lambda` role
# (awslambdaric -> studentops.streaming.lambda_handler.handler), triggered by the events stream
# with partial-batch responses, so only failed records are retried (docs/streaming.md).
resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${local.name}-scorer"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "scorer" {
  # checkov:skip=CKV_AWS_272:code signing applies to .zip packages; this is an ECR image with immutable tags
  function_name                  = "${local.name}-scorer"
  role                           = aws_iam_role.lambda.arn
  package_type                   = "Image"
  image_uri                      = "${aws_ecr_repository.main.repository_url}:${var.image_tag}"
  memory_size                    = var.lambda_memory_mb
  timeout                        = var.lambda_timeout_s
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn
  image_config {
    command = ["lambda"]
  }
  environment {
    variables = {
      STUDENTOPS_HOME               = "/tmp/studentops"
      STUDENTOPS_TRACKING_URI       = var.tracking_uri
      STUDENTOPS_SERVE_PROFILE      = var.serve_profile
      STUDENTOPS_STREAM_SINK        = "kinesis://${aws_kinesis_stream.main["results"].name}"
      STUDENTOPS_STREAM_DEAD_LETTER = "kinesis://${aws_kinesis_stream.main["dead"].name}"
      STUDENTOPS_PREDICTION_LOG_URL = var.prediction_log_url
      STUDENTOPS_PSEUDONYM_KEY      = var.pseudonym_key
      STUDENTOPS_AWS_REGION         = var.aws_region
    }
  }
  vpc_config {
    subnet_ids         = var.private_subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }
  tracing_config {
    mode = "Active"
  }
  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_failures.arn
  }
  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}

resource "aws_lambda_event_source_mapping" "events" {
  function_name                      = aws_lambda_function.scorer.arn
  event_source_arn                   = aws_kinesis_stream.main["events"].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.lambda_batch_size
  maximum_batching_window_in_seconds = var.lambda_batching_window_s
  maximum_retry_attempts             = var.lambda_max_retries
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]
  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.lambda_failures.arn
    }
  }
}
