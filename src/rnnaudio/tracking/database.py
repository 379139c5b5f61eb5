"""Whether a PostgreSQL, MySQL or SQL Server tracking store answers, asked once up front.

MLflow opens a database store with ten connection attempts over about 100 s and then prints
SQLAlchemy's traceback, so a wrong host, port or password cost two minutes and a screen of
stack. One attempt here, with a connect timeout, makes each of those a one-line ConfigError
at once. A store that answered once in this process (a sweep opens a tracker per trial) is
not asked again: a brief outage mid-sweep is what MLflow's retries are for.
"""

from __future__ import annotations

import sqlalchemy
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from rnnaudio.config import ConfigError
from rnnaudio.config.checks import first_line, shown_setting, without_password
from rnnaudio.tracking.server import scheme

# MLflow's database stores other than SQLite, a file this process opens itself.
DATABASE_SERVERS = ("postgresql", "mysql", "mssql")
# Dialects whose drivers (psycopg, mysqlclient, PyMySQL) take a connect_timeout in seconds;
# without one, a host that drops packets waits out the kernel's TCP retries (2 min).
_CONNECT_TIMEOUT = ("postgresql", "mysql")

_ANSWERED: set[str] = set()


def is_database_server(uri: str) -> bool:
    """True for a tracking store in a database server: PostgreSQL, MySQL, SQL Server."""
    return scheme(uri) in DATABASE_SERVERS


def connect_args(uri: str, timeout: int = 10) -> dict[str, int]:
    """SQLAlchemy ``connect_args`` that bound one connection attempt to ``uri``'s server to
    ``timeout`` seconds, where its driver takes such a bound; otherwise none."""
    return {"connect_timeout": timeout} if scheme(uri) in _CONNECT_TIMEOUT else {}


def check_database_answers(uri: str, timeout: int = 10) -> None:
    """Connects to ``uri`` once; a refusal, a timeout or a rejected login is a one-line
    ConfigError. SQLAlchemy's own errors (an unknown dialect, a missing driver) pass on
    to the caller, which words them as it words MLflow's."""
    if uri in _ANSWERED:
        return
    engine = sqlalchemy.create_engine(uri, connect_args=connect_args(uri, timeout),
                                      poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        raise ConfigError(
            f"{shown_setting('tracking.uri', uri)}: cannot connect to the database: "
            f"{without_password(first_line(error))}; check its host, port, user, password "
            "and name, or log to a local store, e.g. tracking.uri=sqlite:///mlflow.db"
        ) from error
    finally:
        engine.dispose()
    _ANSWERED.add(uri)
