package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Errors the hr tools report to the client as tool errors.
var (
	errNoEmployeeKey      = errors.New("give an employee id or name")
	errEmployeeNotFound   = errors.New("employee not found")
	errEmployeeMismatch   = errors.New("id and name refer to different employees")
	errDepartmentNotFound = errors.New("department not found")
)

// employee is one record of the fictional directory.
type employee struct {
	ID         string `json:"id" jsonschema:"the employee id"`
	Name       string `json:"name" jsonschema:"the employee's full name"`
	Title      string `json:"title" jsonschema:"the job title"`
	Department string `json:"department" jsonschema:"the department"`
	Manager    string `json:"manager,omitempty" jsonschema:"the manager's full name; empty for the CEO"`
	Email      string `json:"email" jsonschema:"the work email address"`
}

// salaryReport holds canned annual salary figures for one department.
type salaryReport struct {
	Department string `json:"department" jsonschema:"the department"`
	Currency   string `json:"currency" jsonschema:"ISO 4217 currency code"`
	Headcount  int    `json:"headcount" jsonschema:"number of employees"`
	Minimum    int    `json:"minimum" jsonschema:"lowest annual base salary"`
	Median     int    `json:"median" jsonschema:"median annual base salary"`
	Maximum    int    `json:"maximum" jsonschema:"highest annual base salary"`
	Total      int    `json:"total" jsonschema:"total annual base payroll"`
}

// hr serves the fixed directory; nothing mutates it after NewHR.
type hr struct {
	employees []employee
	reports   []salaryReport
}

func seedEmployees() []employee {
	return []employee{
		{"E1001", "Elena Ortiz", "Chief Executive Officer", "Executive", "", "elena.ortiz@example.com"},
		{"E1002", "Marcus Webb", "Director of Engineering", "Engineering", "Elena Ortiz", "marcus.webb@example.com"},
		{"E1003", "Priya Raman", "Staff Software Engineer", "Engineering", "Marcus Webb", "priya.raman@example.com"},
		{"E1004", "Jonas Lindqvist", "Site Reliability Engineer", "Engineering", "Marcus Webb", "jonas.lindqvist@example.com"},
		{"E1005", "Hannah Berg", "Head of People", "People", "Elena Ortiz", "hannah.berg@example.com"},
		{"E1006", "Tomas Silva", "HR Business Partner", "People", "Hannah Berg", "tomas.silva@example.com"},
		{"E1007", "Kenji Watanabe", "Account Executive", "Sales", "Elena Ortiz", "kenji.watanabe@example.com"},
	}
}

// seedSalaryReports agree with seedEmployees on headcount per department.
func seedSalaryReports() []salaryReport {
	return []salaryReport{
		{"Engineering", "USD", 3, 148000, 172000, 215000, 535000},
		{"Executive", "USD", 1, 310000, 310000, 310000, 310000},
		{"People", "USD", 2, 96000, 111000, 126000, 222000},
		{"Sales", "USD", 1, 118000, 118000, 118000, 118000},
	}
}

type lookupEmployeeInput struct {
	ID   string `json:"id,omitempty" jsonschema:"the employee id, such as E1003; give this or name"`
	Name string `json:"name,omitempty" jsonschema:"the employee's full name, case-insensitive; give this or id"`
}

type salaryReportInput struct {
	Department string `json:"department" jsonschema:"the department name, case-insensitive: Engineering, Executive, People or Sales"`
}

// NewHR returns the hr demo server. Its data is fixed and fictional.
func NewHR() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "hr", Title: "mcpgate demo HR directory", Version: version},
		&mcp.ServerOptions{
			Instructions: "A read-only directory of fictional employees.",
			Capabilities: &mcp.ServerCapabilities{}, // no logging; tools are inferred
		})
	h := &hr{employees: seedEmployees(), reports: seedSalaryReports()}
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "lookup_employee",
		Description: "Returns the directory record of one employee, found by id or full name.",
		Annotations: &mcp.ToolAnnotations{Title: "Look up an employee", ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, h.lookupEmployee)
	mcp.AddTool(srv, &mcp.Tool{
		Name: "salary_report",
		Description: "SENSITIVE: returns confidential salary figures (headcount, minimum, median, " +
			"maximum and total base pay) for one department. Restricted to HR.",
		Annotations: &mcp.ToolAnnotations{Title: "Department salary report", ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, h.salaryReport)
	return srv
}

func (h *hr) lookupEmployee(_ context.Context, _ *mcp.CallToolRequest, in lookupEmployeeInput) (*mcp.CallToolResult, employee, error) {
	e, err := h.find(strings.TrimSpace(in.ID), strings.TrimSpace(in.Name))
	if err != nil {
		return nil, employee{}, fmt.Errorf("lookup_employee: %w", err)
	}
	manager := e.Manager
	if manager == "" {
		manager = "none"
	}
	text := fmt.Sprintf("%s (%s): %s, %s. Manager: %s. Email: %s.",
		e.Name, e.ID, e.Title, e.Department, manager, e.Email)
	return textResult(text), e, nil
}

// find looks an employee up by id, by name, or by both, which must agree.
func (h *hr) find(id, name string) (employee, error) {
	if id == "" && name == "" {
		return employee{}, errNoEmployeeKey
	}
	byID := slices.IndexFunc(h.employees, func(e employee) bool { return strings.EqualFold(e.ID, id) })
	byName := slices.IndexFunc(h.employees, func(e employee) bool { return strings.EqualFold(e.Name, name) })
	switch {
	case id != "" && byID < 0:
		return employee{}, fmt.Errorf("%w: no employee has id %q", errEmployeeNotFound, id)
	case name != "" && byName < 0:
		return employee{}, fmt.Errorf("%w: no employee is named %q", errEmployeeNotFound, name)
	case id != "" && name != "" && byID != byName:
		return employee{}, fmt.Errorf("%w: %q and %q", errEmployeeMismatch, id, name)
	}
	return h.employees[max(byID, byName)], nil
}

func (h *hr) salaryReport(_ context.Context, _ *mcp.CallToolRequest, in salaryReportInput) (*mcp.CallToolResult, salaryReport, error) {
	dept := strings.TrimSpace(in.Department)
	i := slices.IndexFunc(h.reports, func(r salaryReport) bool { return strings.EqualFold(r.Department, dept) })
	if i < 0 {
		return nil, salaryReport{}, fmt.Errorf("salary_report: %w: %q; known departments: %s",
			errDepartmentNotFound, dept, strings.Join(h.departments(), ", "))
	}
	r := h.reports[i]
	text := fmt.Sprintf("%s: %d employees; annual base salary %s %d minimum, %d median, %d maximum; total %d.",
		r.Department, r.Headcount, r.Currency, r.Minimum, r.Median, r.Maximum, r.Total)
	return textResult(text), r, nil
}

func (h *hr) departments() []string {
	names := make([]string, 0, len(h.reports))
	for _, r := range h.reports {
		names = append(names, r.Department)
	}
	return names
}
