package tiny_test

import data.tiny

test_alice if tiny.allow with input as {"user": "alice"}

test_bob if not tiny.allow with input as {"user": "bob"}
