"""Running studentops on shared servers: the team's MLflow tracking server (docs/deploy.md).

The container image, compose file, Prometheus and Grafana provisioning, Terraform and CI
workflows live in the repository's ``deploy/`` and ``.github/`` folders; this package holds the
code those files call.
"""
