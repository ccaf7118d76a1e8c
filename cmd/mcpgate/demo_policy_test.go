package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDevPolicyOutcome checks the outcome of the shipped policy library in
// `mcpgate dev`, end to end with real tokens for the demo users (DESIGN §3):
// alice may use notes' list/read/write but not delete_note and nothing of
// hr; bob may use hr and read notes; carol everything; mallory nothing.
// The calendar's tools are listed by level (alice write, bob read, carol
// all); calling them needs each employee's own connection
// (TestDevCalendarConnect).
// Lists are filtered, and a hidden tool is refused on call too.
func TestDevPolicyOutcome(t *testing.T) {
	t.Parallel()
	r := start(t, newTestEnv(nil), "dev", "--addr", "127.0.0.1:0")
	all := []string{"notes__list_notes", "notes__read_note", "notes__write_note", "notes__delete_note", "hr__lookup_employee", "hr__salary_report"}
	allowed := map[string][]string{
		"alice":   {"notes__list_notes", "notes__read_note", "notes__write_note"},
		"bob":     {"notes__list_notes", "notes__read_note", "hr__lookup_employee", "hr__salary_report"},
		"carol":   all,
		"mallory": nil,
	}
	calendar := map[string][]string{
		"alice": {"calendar__create_event", "calendar__list_events"},
		"bob":   {"calendar__list_events"},
		"carol": {"calendar__create_event", "calendar__list_events"},
	}
	args := map[string]map[string]any{
		"notes__list_notes":   {},
		"notes__read_note":    {"id": "welcome"},
		"notes__write_note":   {"id": "scratch", "body": "x"},
		"notes__delete_note":  {"id": "scratch-never-written"},
		"hr__lookup_employee": {"id": "E1003"},
		"hr__salary_report":   {"department": "Engineering"},
	}
	for user, want := range allowed {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			code, token, stderr := runCLI(t, nil, "dev", "token", "--addr", r.addr.String(), user)
			if code != exitOK {
				t.Fatalf("dev token %s: %s", user, stderr)
			}
			if want == nil {
				// A user whose groups grant nothing is refused at the door.
				c := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-cli-test", Version: "1"}, nil)
				hc := &http.Client{Transport: bearer{strings.TrimSpace(token)}}
				_, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: r.baseURL() + "/mcp", HTTPClient: hc}, nil)
				if err == nil || !strings.Contains(err.Error(), "denied by policy") || !strings.Contains(err.Error(), "has no grant") {
					t.Errorf("%s opening a session: %v, want denied by policy (no grant)", user, err)
				}
				return
			}
			cs := connect(t, r.baseURL()+"/mcp", strings.TrimSpace(token))
			listed := toolNames(t, cs)
			slices.Sort(listed)
			wantSorted := append(slices.Clone(want), calendar[user]...)
			slices.Sort(wantSorted)
			if !slices.Equal(listed, wantSorted) {
				t.Errorf("%s lists %v, want %v", user, listed, wantSorted)
			}
			for _, tool := range all {
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args[tool]})
				// A tool the user may not use is not in their list, so the
				// call is answered as for a tool that does not exist: no
				// reasons that would tell it exists.
				denied := err != nil && strings.Contains(err.Error(), fmt.Sprintf("unknown tool %q", tool)) &&
					!strings.Contains(err.Error(), "denied by policy")
				if slices.Contains(want, tool) == denied {
					t.Errorf("%s calling %s: err %v; want allowed=%v", user, tool, err, slices.Contains(want, tool))
				}
				// An allowed call reaches the upstream and succeeds (deleting
				// a note that does not exist is the upstream's tool error).
				if slices.Contains(want, tool) && (err != nil || res.IsError != (tool == "notes__delete_note")) {
					t.Errorf("%s calling %s: %v %+v, want the upstream's answer", user, tool, err, res)
				}
			}
			// The library's argument constraint (call phase only): a note
			// needs an id, even for those who may write.
			if slices.Contains(want, "notes__write_note") {
				_, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "notes__write_note", Arguments: map[string]any{"body": "x"}})
				if err == nil || !strings.Contains(err.Error(), "argument id is required") {
					t.Errorf("%s writing a note without id: %v, want denied: argument id is required", user, err)
				}
			}
		})
	}
}
