terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
  # Keep state remote and locked in a real account, e.g.:
  # backend "s3" { bucket = "my-tf-state" key = "studentops/staging.tfstate" region = "eu-west-1" }
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = {
      project     = "studentops"
      environment = var.environment
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "studentops-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}
