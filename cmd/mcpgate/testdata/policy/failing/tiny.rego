package tiny

default allow := false

allow if input.user == "alice"

unused if input.never
