"""Login accounts: hashed passwords, roles, a users file re-read when it changes."""

import stat

import pytest
from click.testing import CliRunner

from avatar.accounts import SingleLogin, Users, hash_password, password_matches
from avatar.cli import main
from avatar.errors import UserError


def test_a_password_is_stored_salted_and_only_it_matches():
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and "correct horse" not in one  # salted, never the password itself
    assert password_matches("correct horse", one) and password_matches("correct horse", two)
    assert not password_matches("correct hors", one)
    assert not password_matches("correct horse", "scrypt$garbage")


def test_two_accounts_log_in_with_their_own_passwords_and_roles(tmp_path):
    users = Users(tmp_path / "users")
    assert users.accounts() == {} and not users.login("alice", "anything")
    assert users.add("alice", "alice-secret", "operator")
    assert users.add("bob", "bob-secret-1", "visitor")
    assert users.login("alice", "alice-secret") and users.login("bob", "bob-secret-1")
    assert not users.login("alice", "bob-secret-1") and not users.login("carol", "alice-secret")
    assert users.is_operator("alice") and not users.is_operator("bob") and users.role("bob") == "visitor"
    assert not users.is_operator(None) and not users.is_operator("carol")
    assert stat.S_IMODE((tmp_path / "users").stat().st_mode) == 0o600
    assert "alice-secret" not in (tmp_path / "users").read_text()


def test_changes_to_the_file_apply_to_the_next_login_without_a_restart(tmp_path):
    served = Users(tmp_path / "users")
    served.add("alice", "alice-secret", "operator")
    assert served.is_operator("alice")
    Users(tmp_path / "users").remove("alice")  # another process: `avatar users remove`
    assert not served.login("alice", "alice-secret") and not served.is_operator("alice")


def test_short_passwords_bad_names_and_roles_are_refused(tmp_path):
    users = Users(tmp_path / "users")
    with pytest.raises(UserError, match="at least 8"):
        users.add("alice", "short", "operator")
    with pytest.raises(UserError, match="at most 1024"):
        users.add("alice", "x" * 1025, "operator")
    with pytest.raises(UserError, match="not a usable account name"):
        users.add("a:b", "long enough", "operator")
    with pytest.raises(UserError, match="role"):
        users.add("alice", "long enough", "admin")
    assert not (tmp_path / "users").exists()


def test_a_damaged_users_file_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "users"
    Users(path).add("alice", "alice-secret", "operator")
    path.write_text(path.read_text() + "bob:visitor\n")
    with pytest.raises(UserError, match="line 3"):
        Users(path).accounts()


def test_the_command_line_shortcut_is_one_operator():
    login = SingleLogin("op", "op-password")
    assert login.login("op", "op-password") and not login.login("op", "nope") and not login.login("other", "op-password")
    assert login.is_operator("op") and not login.is_operator("other")


def test_avatar_users_adds_lists_and_removes_accounts(tmp_path):
    path = str(tmp_path / "users")
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "alice", "--operator", "--file", path, "--password", "alice-secret"])
    assert added.exit_code == 0 and "added alice (operator)" in added.output
    assert runner.invoke(main, ["users", "add", "bob", "--file", path], input="bob-secret-1\nbob-secret-1\n").exit_code == 0
    listed = runner.invoke(main, ["users", "list", "--file", path])
    assert listed.output.splitlines() == ["alice\toperator", "bob\tvisitor"]
    short = runner.invoke(main, ["users", "add", "carol", "--file", path, "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in short.output and "Traceback" not in short.output
    assert runner.invoke(main, ["users", "remove", "bob", "--file", path]).exit_code == 0
    missing = runner.invoke(main, ["users", "remove", "bob", "--file", path])
    assert missing.exit_code != 0 and "no account 'bob'" in missing.output
    assert Users(tmp_path / "users").role("alice") == "operator" and Users(tmp_path / "users").role("bob") is None


def test_a_users_file_damaged_while_serving_refuses_logins_without_a_traceback(tmp_path):
    served = Users(tmp_path / "users")
    served.add("alice", "alice-secret", "operator")
    (tmp_path / "users").write_text("alice\n")
    assert not served.login("alice", "alice-secret")


def test_the_app_asks_for_a_login_by_its_deployment(tmp_path):
    from avatar.config import Deployment
    from avatar.service import logins

    deploy = Deployment(root=tmp_path, users=tmp_path / "users")
    assert logins(deploy) is None  # no accounts: no login
    Users(tmp_path / "users").add("alice", "alice-secret", "operator")
    accounts = logins(deploy)
    assert isinstance(accounts, Users) and accounts.login("alice", "alice-secret")
    single = logins(deploy.given(auth="op:pass-word"))
    assert isinstance(single, SingleLogin) and single.login("op", "pass-word")
    assert not single.login("alice", "alice-secret")


def test_a_one_login_setting_without_a_colon_is_refused_not_taken_for_no_login(tmp_path):
    """AVATAR_AUTH=secret (no user) used to be ignored: the app served everyone without a login."""
    from avatar.config import Deployment
    from avatar.service import logins

    with pytest.raises(UserError, match="USER:PASSWORD"):
        logins(Deployment(root=tmp_path, auth="just-a-password"))
    result = CliRunner().invoke(main, ["serve", "--auth", "just-a-password"], env={"AVATAR_CACHE": str(tmp_path)})
    assert result.exit_code == 2 and "error: the one operator login (--auth or AVATAR_AUTH) takes USER:PASSWORD" \
        in result.output


def test_data_belongs_to_an_account_id_that_a_namesake_never_gets(tmp_path):
    """An account removed and added again under its name is someone new: its id (whose data it
    is) differs; a password or role change keeps it; a line from before ids has its name as id."""
    users = Users(tmp_path / "users")
    users.add("alice", "alice-secret", "visitor")
    first = users.account("alice").id
    users.add("alice", "a-new-secret", "operator")  # the same person, a new password and role
    assert users.account("alice").id == first and first != "alice"
    users.remove("alice")
    users.add("alice", "alice-secret", "visitor")  # a new colleague called alice
    assert users.account("alice").id != first
    old = hash_password("bob-secret-1")
    (tmp_path / "old-users").write_text(f"bob:visitor:{old}\n")
    assert Users(tmp_path / "old-users").account("bob").id == "bob"  # his data stays his


def test_the_app_keeps_a_logins_data_under_its_account_id(tmp_path):
    from types import SimpleNamespace

    from avatar.ui.shared import Shared

    users = Users(tmp_path / "users")
    users.add("alice", "alice-secret", "visitor")
    shared = Shared(service=object(), accounts=users)
    request = SimpleNamespace(username="alice", session_hash="s1")
    assert shared.owner(request) == users.account("alice").id
    users.remove("alice")
    with pytest.raises(Exception, match="cannot be found"):
        shared.owner(request)
