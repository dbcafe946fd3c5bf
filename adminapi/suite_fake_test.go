package adminapi

import "testing"

// The suites on the fake store check the API's own logic quickly; the
// same suites run on the real Vault in vault_test.go.

func TestRBACMatrixFake(t *testing.T) { runRBACMatrix(t, newHarness(t, newFakeStore())) }

func TestValidationFake(t *testing.T) {
	store := newFakeStore()
	h := newHarness(t, store)
	runValidation(t, h)
	if store.writeCount() != 2 {
		t.Errorf("%d writes, want only the 2 of the setup", store.writeCount())
	}
}

func TestLimitsFake(t *testing.T) {
	runLimits(t, newHarness(t, newFakeStore(), func(c *Config) { c.MaxValueBytes = 1024 }))
}

func TestConflictsFake(t *testing.T) { runConflicts(t, newHarness(t, newFakeStore())) }

func TestStoreDownFake(t *testing.T) {
	store := newFakeStore()
	runStoreDown(t, newHarness(t, store), func() { store.setDown(true) })
}

func TestNoLeakFake(t *testing.T) { runNoLeak(t, newHarness(t, newFakeStore())) }
