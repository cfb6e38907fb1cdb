resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  function = aws_lambda_function.scorer.function_name
  # name => (namespace, metric, dimensions, statistic, threshold, comparison, what it means)
  alarms = {
    lambda-errors = {
      namespace = "AWS/Lambda", metric = "Errors", dims = { FunctionName = local.function },
      stat = "Sum", threshold = 0, op = "GreaterThanThreshold",
      text = "the scorer raised (model load or whole-batch failure); records are being retried"
    }
    lambda-throttles = {
      namespace = "AWS/Lambda", metric = "Throttles", dims = { FunctionName = local.function },
      stat = "Sum", threshold = 0, op = "GreaterThanThreshold",
      text = "the scorer hit its reserved concurrency"
    }
    events-falling-behind = {
      namespace = "AWS/Lambda", metric = "IteratorAge", dims = { FunctionName = local.function },
      stat = "Maximum", threshold = var.iterator_age_alarm_ms, op = "GreaterThanThreshold",
      text = "the oldest unscored event is older than the limit"
    }
    failed-batches = {
      namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible",
      dims = { QueueName = aws_sqs_queue.lambda_failures.name },
      stat = "Maximum", threshold = 0, op = "GreaterThanThreshold",
      text = "batches gave up after all retries; replay them from the failure queue"
    }
    db-cpu = {
      namespace = "AWS/RDS", metric = "CPUUtilization", dims = { DBInstanceIdentifier = aws_db_instance.main.identifier },
      stat = "Average", threshold = 80, op = "GreaterThanThreshold",
      text = "PostgreSQL CPU above 80%"
    }
    db-storage = {
      namespace = "AWS/RDS", metric = "FreeStorageSpace", dims = { DBInstanceIdentifier = aws_db_instance.main.identifier },
      stat = "Minimum", threshold = 5 * 1024 * 1024 * 1024, op = "LessThanThreshold",
      text = "PostgreSQL has less than 5 GB free"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "main" {
  for_each            = local.alarms
  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = each.value.text
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dims
  statistic           = each.value.stat
  threshold           = each.value.threshold
  comparison_operator = each.value.op
  period              = 300
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
