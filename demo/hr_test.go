package demo

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestHRListing(t *testing.T) {
	t.Parallel()
	s := startServer(t, "hr", NewHR())
	for era := range eras() {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			cs := connect(t, newClient(nil), s.URL, era)
			tools, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
				if a := tool.Annotations; a == nil || !a.ReadOnlyHint {
					t.Errorf("%s: annotations %+v, want readOnlyHint", tool.Name, a)
				}
				if schema := decodeSchema(t, tool.InputSchema); schema.Type != "object" {
					t.Errorf("%s: input schema type %q, want object", tool.Name, schema.Type)
				}
				if sensitive := strings.HasPrefix(tool.Description, "SENSITIVE:"); sensitive != (tool.Name == "salary_report") {
					t.Errorf("%s: description %q marked sensitive: %t", tool.Name, tool.Description, sensitive)
				}
			}
			if diff := cmp.Diff([]string{"lookup_employee", "salary_report"}, names); diff != "" {
				t.Errorf("tools (-want +got):\n%s", diff)
			}
			if caps := cs.InitializeResult().Capabilities; caps.Resources != nil || caps.Prompts != nil {
				t.Errorf("capabilities %+v, want tools only", caps)
			}
		})
	}
}

func TestHRToolCalls(t *testing.T) {
	t.Parallel()
	s := startServer(t, "hr", NewHR())
	priya := employee{"E1003", "Priya Raman", "Staff Software Engineer", "Engineering", "Marcus Webb", "priya.raman@example.com"}
	tests := map[string]struct {
		tool     string
		args     map[string]any
		want     any    // structured content, if checked
		wantErr  bool   // whether the result is a tool error
		wantText string // a substring of the text content
	}{
		"by id":          {tool: "lookup_employee", args: map[string]any{"id": "E1003"}, want: priya, wantText: "Manager: Marcus Webb"},
		"by name":        {tool: "lookup_employee", args: map[string]any{"name": "priya raman"}, want: priya, wantText: "priya.raman@example.com"},
		"by both":        {tool: "lookup_employee", args: map[string]any{"id": "e1003", "name": "Priya Raman"}, want: priya},
		"ceo":            {tool: "lookup_employee", args: map[string]any{"id": "E1001"}, wantText: "Manager: none"},
		"mismatch":       {tool: "lookup_employee", args: map[string]any{"id": "E1001", "name": "Priya Raman"}, wantErr: true, wantText: "different employees"},
		"unknown name":   {tool: "lookup_employee", args: map[string]any{"name": "Mallory"}, wantErr: true, wantText: `no employee is named "Mallory"`},
		"unknown id":     {tool: "lookup_employee", args: map[string]any{"id": "E9999"}, wantErr: true, wantText: "employee not found"},
		"no key":         {tool: "lookup_employee", args: map[string]any{}, wantErr: true, wantText: "give an employee id or name"},
		"wrong type":     {tool: "lookup_employee", args: map[string]any{"id": 7}, wantErr: true, wantText: "id"},
		"salary":         {tool: "salary_report", args: map[string]any{"department": "engineering"}, want: seedSalaryReports()[0], wantText: "172000 median"},
		"salary unknown": {tool: "salary_report", args: map[string]any{"department": "Legal"}, wantErr: true, wantText: "known departments: Engineering, Executive, People, Sales"},
		"salary missing": {tool: "salary_report", args: map[string]any{}, wantErr: true, wantText: "department"},
	}
	for era := range eras() {
		for name, tt := range tests {
			t.Run(era+"/"+name, func(t *testing.T) {
				t.Parallel()
				cs := connect(t, newClient(nil), s.URL, era)
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
				if err != nil {
					t.Fatalf("CallTool: %v", err)
				}
				if text := firstText(t, res); res.IsError != tt.wantErr || !strings.Contains(text, tt.wantText) {
					t.Errorf("IsError %t, text %q; want IsError %t, text containing %q", res.IsError, text, tt.wantErr, tt.wantText)
				}
				if tt.want != nil {
					if diff := cmp.Diff(asMap(t, tt.want), res.StructuredContent); diff != "" {
						t.Errorf("structured content (-want +got):\n%s", diff)
					}
				}
			})
		}
	}
}

// TestHRSeedsAgree keeps the canned salary headcounts true to the directory.
func TestHRSeedsAgree(t *testing.T) {
	t.Parallel()
	got := map[string]int{}
	for _, e := range seedEmployees() {
		got[e.Department]++
	}
	want := map[string]int{}
	for _, r := range seedSalaryReports() {
		want[r.Department] = r.Headcount
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headcount per department (-reports +directory):\n%s", diff)
	}
}
