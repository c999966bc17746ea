// Command decorators_batch wraps the batch methods of a price service with package
// cachefn: a batch read that goes to the source only for the keys the cache misses,
// in one call (cacheable-batch), and a batch update that evicts the keys it changed
// (evict-batch). It needs no Redis.
//
//	go run ./examples/decorators_batch
package main

import (
	"context"
	"fmt"
	"log"
	"maps"
	"slices"
	"sync"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

// prices is the source of truth: one query per call, whatever the number of keys.
type prices struct {
	mu      sync.Mutex
	rows    map[string]int64
	queries int
}

func (p *prices) GetPrices(_ context.Context, skus []string) (map[string]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queries++
	fmt.Println("    db: SELECT price WHERE sku = ANY", sorted(skus))
	out := make(map[string]int64, len(skus))
	for _, s := range skus {
		if v, ok := p.rows[s]; ok {
			out[s] = v
		}
	}
	return out, nil
}

// Discount is a batch update: every SKU of it gets a new price.
type Discount struct {
	SKUs    []string
	Percent int64
}

func (p *prices) ApplyDiscount(_ context.Context, d Discount) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queries++
	fmt.Println("    db: UPDATE price WHERE sku = ANY", sorted(d.SKUs))
	for _, s := range d.SKUs {
		p.rows[s] = p.rows[s] * (100 - d.Percent) / 100
	}
	return nil
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func main() {
	ctx := context.Background()
	cache, err := accelerator.New(accelerator.Options[string, int64]{Area: "prices", CacheNullValue: true})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	db := &prices{rows: map[string]int64{"tea": 450, "mug": 900, "pot": 2500, "cup": 300}}

	// cacheable-batch: one MGet; db.GetPrices runs once, for the misses only; what it
	// returns is cached, and SKUs it leaves out are remembered as not found.
	getPrices := cachefn.CacheableBatch(cache, db.GetPrices)
	// evict-batch: after a successful update, its SKUs leave the cache in one MDel.
	applyDiscount := cachefn.EvictBatch(cache, func(d Discount) []string { return d.SKUs }, db.ApplyDiscount)

	show := func(call string, got map[string]int64, err error) {
		fmt.Printf("%-38s", call)
		for _, k := range slices.Sorted(maps.Keys(got)) {
			fmt.Printf(" %s=%d", k, got[k])
		}
		if err != nil {
			fmt.Print(" error: ", err)
		}
		fmt.Println()
	}
	got, err := getPrices(ctx, []string{"tea", "mug"})
	show("getPrices(tea, mug)", got, err)
	got, err = getPrices(ctx, []string{"tea", "mug", "pot", "cup", "spoon"})
	show("getPrices(tea, mug, pot, cup, spoon)", got, err)
	got, err = getPrices(ctx, []string{"tea", "mug", "pot", "cup", "spoon"})
	show("the same again", got, err)

	err = applyDiscount(ctx, Discount{SKUs: []string{"tea", "pot"}, Percent: 20})
	fmt.Printf("%-38s %v\n", "applyDiscount(tea, pot, 20%)", err)
	got, err = getPrices(ctx, []string{"tea", "mug", "pot"})
	show("getPrices(tea, mug, pot)", got, err)

	fmt.Printf("\n%d queries for 5 calls over 17 keys\n", db.queries)
}
