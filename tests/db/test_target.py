"""Where DATABASE_URL points, named for messages without its password."""

from __future__ import annotations

import asyncpg
import pytest

from app.db.target import DatabaseProblem, InvalidDatabaseUrl, connecting, parse_target


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://u:s3cret@db.internal:6543/picsweb",
            'database "picsweb" on db.internal:6543',
        ),
        ("postgres://u:s3cret@db/picsweb", 'database "picsweb" on db:5432'),
        ("postgresql://u:s3cret@h1:5432,h2:5433/p", 'database "p" on h1:5432,h2:5433'),
        ("postgresql://u:s3cret@[::1]:5433/p", 'database "p" on [::1]:5433'),
        (
            "postgresql:///p?host=/run/postgresql",
            'database "p" on socket /run/postgresql port 5432',
        ),
        ("postgresql://u:s3cret@h/?dbname=q&port=7", 'database "q" on h:7'),
        ("postgresql://pics:s3cret@h", 'database "pics" on h:5432'),  # libpq: the user's name
    ],
)
def test_the_target_is_named_without_the_password(url: str, shown: str) -> None:
    target = parse_target(url)
    assert str(target) == shown
    assert "s3cret" not in repr(target)


@pytest.mark.parametrize(
    "url", ["mysql://u:s3cret@h/x", "postgresql://u:s3cret@[bad", "postgresql://u:s3cret@h:x/d"]
)
def test_what_is_not_a_postgres_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(InvalidDatabaseUrl) as err:
        parse_target(url)
    assert "s3cret" not in str(err.value)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (ConnectionRefusedError(111, "refused"), "cannot connect to h:1 (connection refused)"),
        (asyncpg.InvalidCatalogNameError('database "d" does not exist'), 'database "d" does not'),
        (asyncpg.InvalidPasswordError("password authentication failed"), 'for user "u" on h:1'),
        (TimeoutError(), "no answer from h:1"),
    ],
)
def test_connect_failures_become_one_sentence_naming_the_setting(
    exc: BaseException, words: str
) -> None:
    with pytest.raises(DatabaseProblem) as err, connecting(parse_target("postgresql://u:pw@h:1/d")):
        raise exc
    assert str(err.value).startswith("DATABASE_URL: ")
    assert words in str(err.value)
    assert err.value.unreachable
