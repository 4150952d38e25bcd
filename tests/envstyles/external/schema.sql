-- What the application created before the project adopted Alembic.
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name VARCHAR(80) NOT NULL,
    note TEXT
);
