package tiny_test

import data.tiny

test_pass if tiny.allow with input as {"user": "alice"}

test_bob_allowed if tiny.allow with input as {"user": "bob"}
