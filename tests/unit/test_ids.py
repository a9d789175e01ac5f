"""``domain.ids.Namespace`` makes exactly the UUIDs ``uuid.uuid5`` makes."""

from __future__ import annotations

import pickle
import uuid

from hypothesis import given
from hypothesis import strategies as st

from domain.ids import Namespace

namespaces = st.builds(uuid.UUID, int=st.integers(min_value=0, max_value=2**128 - 1))
names = st.text()  # the empty name, control and astral characters (not lone surrogates: no UTF-8)


@given(namespaces, names)
def test_uuid5_is_the_standard_librarys(namespace, name):
    ours, theirs = Namespace(namespace).uuid5(name), uuid.uuid5(namespace, name)
    assert ours == theirs and ours.int == theirs.int and str(ours) == str(theirs)
    assert ours.version == theirs.version == 5
    assert (ours.variant, ours.is_safe) == (theirs.variant, theirs.is_safe)
    assert hash(ours) == hash(theirs) and type(ours) is uuid.UUID
    assert pickle.loads(pickle.dumps(ours)) == theirs


def test_known_value():
    # RFC 4122's namespace for DNS names, a value other implementations agree on
    made = Namespace(uuid.NAMESPACE_DNS).uuid5("python.org")
    assert str(made) == "886313e1-3b8a-5372-9b90-0c9aee199e5d"
