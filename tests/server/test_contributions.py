"""Face crops strangers give (fer/training/contributions.py): bounded per client address as well as per session,
so one stranger opening session after session cannot fill the server's review queue alone (issue 49)."""

import cv2
import numpy as np
import pytest

from fer.training import contributions
from fer.training.contributions import ContributionRefused, contribute, withdraw


def _faces():
    """48x48 grey crops with distinct coarse structure (distinct hashes), endless."""
    seed = 0
    while True:
        rng = np.random.default_rng(seed)
        yield cv2.resize(rng.integers(0, 256, (6, 6)).astype(np.uint8), (48, 48), interpolation=cv2.INTER_LINEAR)
        seed += 1


def _give(root, faces, client, until_refused=False):
    """One crop from a fresh session (given_here=0); a near-duplicate face is skipped, not counted."""
    while True:
        try:
            return contribute(root, "sad", next(faces), 0, client=client)
        except ContributionRefused as e:
            if "given already" not in str(e):
                raise


@pytest.fixture(autouse=True)
def _no_addresses(monkeypatch):
    monkeypatch.setattr(contributions, "_BY_ADDRESS", type(contributions._BY_ADDRESS)())


def test_one_address_opening_new_sessions_gives_at_most_its_quota(tmp_path):
    faces = _faces()
    given = [_give(tmp_path, faces, "203.0.113.7") for _ in range(contributions.ADDRESS_QUOTA)]
    with pytest.raises(ContributionRefused, match="from your network") as e:
        _give(tmp_path, faces, "203.0.113.7")
    assert "\n" not in str(e.value)
    assert len(list((tmp_path / "pending").glob("*/*.png"))) == contributions.ADDRESS_QUOTA
    _give(tmp_path, faces, "198.51.100.2")  # another address still may
    withdraw(given[:2], tmp_path)  # what the address withdrew (or the owner reviewed) no longer counts
    _give(tmp_path, faces, "203.0.113.7")


def test_an_unknown_address_is_bounded_by_the_session_and_server_quotas_only(tmp_path, monkeypatch):
    monkeypatch.setattr(contributions, "ADDRESS_QUOTA", 2)
    faces = _faces()
    for _ in range(3):
        _give(tmp_path, faces, None)  # the server's own machine: no address to count
    for client in ("::ffff:127.0.0.1", "127.0.0.1", "not an address"):  # a local proxy that forwards nothing
        _give(tmp_path, faces, client)
    monkeypatch.setattr(contributions, "MAX_ADDRESSES", 2)
    for client in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        _give(tmp_path, faces, client)
    root = tmp_path.resolve()
    assert list(contributions._BY_ADDRESS) == [(root, "192.0.2.2"), (root, "192.0.2.3")]  # the oldest forgotten first


def test_one_ipv6_host_counts_once_across_its_64_and_mapped_ipv4_is_ipv4(tmp_path, monkeypatch):
    monkeypatch.setattr(contributions, "ADDRESS_QUOTA", 2)
    faces = _faces()
    _give(tmp_path, faces, "2001:db8:1:2::1")
    _give(tmp_path, faces, "2001:db8:1:2:ffff::9")  # the same /64: a host picks any of its 2^64 addresses
    with pytest.raises(ContributionRefused, match="from your network"):
        _give(tmp_path, faces, "2001:db8:1:2::abcd")
    _give(tmp_path, faces, "2001:db8:1:3::1")
    _give(tmp_path, faces, "203.0.113.7")
    _give(tmp_path, faces, "::ffff:203.0.113.7")
    with pytest.raises(ContributionRefused, match="from your network"):
        _give(tmp_path, faces, "203.0.113.7")


def test_each_contribution_folder_counts_its_own_givers(tmp_path, monkeypatch):
    """Two apps (two runs folders) served by one process: an address that filled one folder's quota may still
    give to the other, and filling the other changes nothing in the first."""
    monkeypatch.setattr(contributions, "ADDRESS_QUOTA", 2)
    faces, first, second = _faces(), tmp_path / "one" / "contributed", tmp_path / "two" / "contributed"
    for _ in range(2):
        _give(first, faces, "203.0.113.7")
    with pytest.raises(ContributionRefused, match="from your network"):
        _give(first, faces, "203.0.113.7")
    for _ in range(2):
        _give(second, faces, "203.0.113.7")
    with pytest.raises(ContributionRefused, match="from your network"):
        _give(second, faces, "203.0.113.7")
    assert [len(list((root / "pending").glob("*/*.png"))) for root in (first, second)] == [2, 2]
