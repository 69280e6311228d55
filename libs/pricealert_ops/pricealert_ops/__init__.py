"""PriceAlert's operator and developer tooling: never imported by a service, never in the
runtime image (the Dockerfile's `ops` target installs it for the backup and restore tasks).

- `backup`, `restore`, `drill`, `pg`, `storage`: logical dumps (pg_dump) to S3,
  verified and restored against PostgreSQL (plan 5.1, 5.3, 7.1).
- `rds_restore`, `rds_drill`: restore RDS from a snapshot or to a point in time (plan 5.2).
- `forecast`, `capacity`, `maintenance`, `perf`, `audit`, `alert_review`, `incident`,
  `review`: capacity, database upkeep and the operations reviews.
- `chaos`: chaos experiments on a private local stack (plan 9.4).
- `monitoring`: the generators and checks behind the repository's `monitoring/`.
- `devtools`: the demo shop, webhook receiver, local servers and process stack.
- `supervisor`: `pricealert run`'s process supervisor (development).
- `cli`: the `pricealert` commands of all the above, found by the runtime's CLI through
  the `pricealert.commands` entry point.
"""
