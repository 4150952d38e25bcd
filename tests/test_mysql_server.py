"""The throwaway MariaDB server of scripts/mysqltest.sh: reachable with the password,
refusing a wrong one, its test user able to create databases."""

from __future__ import annotations

import pymysql
import pytest

pytestmark = pytest.mark.mysql


def test_the_test_user_creates_databases_and_needs_its_password(mysql_server, mysql_url):
    database = mysql_url.rsplit("/", 1)[1]
    with mysql_server.connect(database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        cur.execute("SELECT user()")
        assert cur.fetchone()[0].startswith("safeguard@")
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host=mysql_server.url.host, port=mysql_server.url.port,
                        user=mysql_server.url.username, password="wrong" + mysql_server.password)
