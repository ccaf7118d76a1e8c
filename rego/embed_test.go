package rego

import "testing"

func TestLibrary(t *testing.T) {
	modules, data, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := modules["authz.rego"]; !ok || len(modules) < 5 {
		t.Errorf("modules %v", len(modules))
	}
	for name := range modules {
		if len(name) > 10 && name[len(name)-10:] == "_test.rego" {
			t.Errorf("test module %s embedded", name)
		}
	}
	if _, ok := data["mcpgate"]; !ok {
		t.Errorf("data has no mcpgate key: %v", data)
	}
}

func TestModulesAreTheLibrarysWithoutData(t *testing.T) {
	modules, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	lib, _, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	if len(modules) != len(lib) {
		t.Fatalf("Modules has %d modules, Library %d", len(modules), len(lib))
	}
	for name, src := range lib {
		if modules[name] != src {
			t.Errorf("Modules()[%s] differs from Library()'s", name)
		}
	}
}
