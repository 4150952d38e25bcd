"""Python health checks as a team would write them, for the health tests."""

import time

import sqlalchemy as sa


def properties_have_zoning(conn):
    """The application reads properties.zoning on every page."""
    conn.execute(sa.text("SELECT zoning FROM properties LIMIT 1")).fetchall()


def no_unassigned_tenants(conn):
    orphans = conn.execute(sa.text(
        "SELECT count(*) FROM tenants WHERE property_id NOT IN (SELECT id FROM properties)"
    )).scalar()
    return orphans == 0, f"{orphans} tenants belong to no property"


def hangs(conn):
    time.sleep(30)


def writes_and_commits(conn):
    """A check with a side effect it should never have: it creates a table and commits."""
    conn.execute(sa.text("CREATE TABLE check_side_effect (x INTEGER)"))
    conn.execute(sa.text("INSERT INTO check_side_effect VALUES (1)"))
    conn.commit()
    return True
