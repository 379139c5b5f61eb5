"""Whether a PostgreSQL, MySQL or SQL Server tracking store answers, asked once up front.

MLflow opens a database store with ten connection attempts and no connect timeout, then
prints SQLAlchemy's traceback: a wrong port or password costs about 100 s, a host that
drops packets about 20 minutes (ten times the kernel's SYN retries). One attempt here, on
the engine MLflow itself would build and with a connect timeout, makes each of those a
one-line ConfigError at once. A store that answered once in this process (a sweep opens a
tracker per trial) is not asked again: a brief outage mid-sweep is what MLflow's retries
are for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError

from rnnaudio.config import ConfigError
from rnnaudio.config.checks import first_line, shown_setting, without_password
from rnnaudio.tracking.server import scheme

# MLflow's database stores other than SQLite, a file this process opens itself.
DATABASE_SERVERS = ("postgresql", "mysql", "mssql")
# DBAPI drivers whose connect() takes connect_timeout in seconds (psycopg 3 and 2,
# mysqlclient, PyMySQL, MySQL Connector, MariaDB Connector). Others (pg8000, pyodbc, the
# async drivers) would refuse the keyword, and keep the driver's own default.
_TIMEOUT_DRIVERS = ("psycopg", "psycopg2", "mysqldb", "pymysql", "mysqlconnector",
                    "mariadbconnector")

_ANSWERED: set[str] = set()


def is_database_server(uri: str) -> bool:
    """True for a tracking store in a database server: PostgreSQL, MySQL, SQL Server."""
    return scheme(uri) in DATABASE_SERVERS


def connect_args(uri: str, timeout: int = 10) -> dict[str, Any]:
    """SQLAlchemy ``connect_args`` that bound one connection attempt to ``uri``'s server to
    ``timeout`` seconds, for a driver that takes such a bound. None when the URL sets its
    own ``connect_timeout`` (SQLAlchemy would let ours override it), or when SQLAlchemy
    cannot read the URL: it says why when the engine is made."""
    try:
        url = make_url(uri)
        driver = url.get_driver_name()
    except (ArgumentError, ValueError):
        return {}
    if driver not in _TIMEOUT_DRIVERS or "connect_timeout" in url.query:
        return {}
    return {"connect_timeout": timeout}


def check_database_answers(uri: str, timeout: int = 10) -> None:
    """Connects to ``uri`` once, through the engine MLflow builds for it (its pool settings,
    its MySQL TLS files) with :func:`connect_args` added; a refusal, a timeout, a rejected
    login or database is a one-line ConfigError. SQLAlchemy's refusals of the URL itself
    (an unknown dialect, a missing driver) pass on to the caller, which words them."""
    if uri in _ANSWERED:
        return
    # Imported here: the sweep imports this module for connect_args before it starts its
    # tracking server, and MLflow's imports take 3 s of that start.
    from mlflow.store.db.utils import create_sqlalchemy_engine

    shown = shown_setting("tracking.uri", uri)
    try:
        make_url(uri)
    except ValueError as error:  # a port that is no number, an unclosed [::1
        raise ConfigError(
            f"{shown} is not a valid database URL ({without_password(first_line(error))}); "
            "give e.g. postgresql://user@host:5432/mlflow"
        ) from error
    try:
        engine = create_sqlalchemy_engine(uri)
    except ValueError as error:  # MLflow's: an MLFLOW_SQLALCHEMYSTORE_* setting it refuses
        raise ConfigError(f"{shown}: {first_line(error)}") from error
    bound = connect_args(uri, timeout)
    if bound:  # MLflow's engine takes no connect_args: add them as each connection opens
        event.listen(engine, "do_connect", lambda _d, _r, _a, params: params.update(bound))
    try:
        with engine.connect():
            pass
    # InvalidRequestError: an async driver under this sync engine. Its subclass
    # ArgumentError (an unknown dialect) came from making the engine, above.
    except (DBAPIError, InvalidRequestError) as error:
        raise ConfigError(
            f"{shown}: cannot connect to the database: {without_password(first_line(error))}"
            "; check its host, port, user, password and name, or log to a local store, "
            "e.g. tracking.uri=sqlite:///mlflow.db"
        ) from error
    finally:
        engine.dispose()
    _ANSWERED.add(uri)
