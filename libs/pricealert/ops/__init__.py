"""Operations: what operators run through `make` and the `pricealert` command.

- `backup`, `restore`, `drill`, `pg`, `storage`: logical dumps (pg_dump) to S3,
  verified and restored against PostgreSQL (plan 5.1, 5.3, 7.1).
- `rds_restore`: restore RDS from a snapshot or to a point in time (plan 5.2).
- `queue_metrics_publisher`: arq queue lengths from Redis to CloudWatch, the
  numerator of the workers' backlog-per-task autoscaling (`infra/services.yaml`).
"""
