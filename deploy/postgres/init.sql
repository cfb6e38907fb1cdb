-- Run once by the postgres image on an empty volume: one database per service.
-- The compose file's POSTGRES_DB is the MLflow store; these are the others.
CREATE DATABASE studentops;  -- prediction log and monitoring tables (prediction_log_url)
CREATE DATABASE prefect;     -- Prefect server
