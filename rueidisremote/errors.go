package rueidisremote

import (
	"errors"
	"fmt"
)

// itemErrors sums up the errors of the failed items of a batch of n: how many failed,
// and each distinct error once. It never names a key: keys are often e-mail
// addresses or tokens, and error texts end up in logs.
func itemErrors(n int, errs []error) error {
	seen := make(map[string]bool, 1)
	distinct := make([]error, 0, 1)
	for _, err := range errs {
		if msg := err.Error(); !seen[msg] {
			seen[msg] = true
			distinct = append(distinct, err)
		}
	}
	return fmt.Errorf("%d of %d items failed: %w", len(errs), n, errors.Join(distinct...))
}
