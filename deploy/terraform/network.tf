resource "aws_security_group" "lambda" {
  name        = "${local.name}-lambda"
  description = "studentops Lambda function: outbound to the MLflow server, PostgreSQL and AWS APIs"
  vpc_id      = var.vpc_id
  egress {
    description = "HTTPS to AWS APIs and the MLflow server"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "MLflow server on the team's network"
    from_port   = 5000
    to_port     = 5000
    protocol    = "tcp"
    cidr_blocks = var.app_cidr_blocks
  }
  egress {
    description     = "PostgreSQL (prediction log)"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.db.id]
  }
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "studentops PostgreSQL: reachable from the team's servers only"
  vpc_id      = var.vpc_id
  ingress {
    description = "PostgreSQL from the team's servers"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = var.app_cidr_blocks
  }
}

resource "aws_security_group_rule" "db_from_lambda" {
  description              = "PostgreSQL from the Lambda function"
  type                     = "ingress"
  from_port                = 5432
  to_port                  = 5432
  protocol                 = "tcp"
  security_group_id        = aws_security_group.db.id
  source_security_group_id = aws_security_group.lambda.id
}
