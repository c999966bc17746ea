-- Seed data: users 1 to 1000. Rows that already exist are left as they are.
INSERT INTO users (id, name, email)
SELECT g, 'user ' || g, 'user' || g || '@example.com'
FROM generate_series(1, 1000) AS g
ON CONFLICT DO NOTHING;
