-- Compose only (the server preloads the library there): lets you count the queries
-- that reach the database, SELECT calls, query FROM pg_stat_statements.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
