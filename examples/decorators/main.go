// Command decorators wraps the methods of a product repository with cache behaviour
// using package cachefn: a read through the cache (cacheable), a write that updates
// the cache (put) and a delete that evicts it (evict). The wrapped functions keep their
// own signatures, so the service code calls them as it called the repository. It
// needs no Redis.
//
//	go run ./examples/decorators
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/cachefn"
)

type Product struct {
	SKU   string
	Name  string
	Price int64 // cents
}

// ErrNoProduct is the repository's "not found".
var ErrNoProduct = errors.New("no such product")

// repo is the source of truth, a database in a real service. It prints every query.
type repo struct {
	mu      sync.Mutex
	rows    map[string]Product
	queries int
}

func (r *repo) Get(_ context.Context, sku string) (Product, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Println("    db: SELECT", sku)
	r.queries++
	time.Sleep(5 * time.Millisecond) // a slow query
	p, ok := r.rows[sku]
	if !ok {
		return Product{}, fmt.Errorf("product %s: %w", sku, ErrNoProduct)
	}
	return p, nil
}

func (r *repo) Save(_ context.Context, p Product) (Product, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Println("    db: UPDATE", p.SKU)
	r.queries++
	if p.Price < 0 {
		return Product{}, errors.New("price must not be negative")
	}
	r.rows[p.SKU] = p
	return p, nil
}

func (r *repo) Delete(_ context.Context, sku string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Println("    db: DELETE", sku)
	r.queries++
	delete(r.rows, sku)
	return nil
}

// service holds the repository's methods, wrapped once at start-up.
type service struct {
	getProduct    func(context.Context, string) (Product, error)
	saveProduct   func(context.Context, Product) (Product, error)
	deleteProduct func(context.Context, string) error
}

func newService(db *repo, products *accelerator.Cache[string, Product], stats *cachefn.Stats) *service {
	opts := []cachefn.Option{cachefn.WithStats(stats)}
	return &service{
		// cacheable: a miss runs db.Get once per SKU, however many callers miss it
		// together; ErrNoProduct is "not found", remembered for NullTTL.
		getProduct: cachefn.Cacheable(products, db.Get, append(opts, cachefn.NotFound(ErrNoProduct))...),
		// put: on success the saved product replaces the cached one.
		saveProduct: cachefn.Put(products, func(_ Product, saved Product) string { return saved.SKU }, db.Save, opts...),
		// evict: on success the SKU leaves the cache.
		deleteProduct: cachefn.Evict(products, func(sku string) string { return sku }, db.Delete, opts...),
	}
}

func main() {
	ctx := context.Background()
	products, err := accelerator.New(accelerator.Options[string, Product]{
		Area:           "products",
		LocalTTL:       time.Minute,
		CacheNullValue: true,
		NullTTL:        10 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer products.Close()
	db := &repo{rows: map[string]Product{"tea": {"tea", "Green tea", 450}, "mug": {"mug", "Mug", 900}}}
	var stats cachefn.Stats
	svc := newService(db, products, &stats)

	show := func(what string, p Product, err error) {
		if err != nil {
			fmt.Printf("%-28s error: %v\n", what, err)
			return
		}
		fmt.Printf("%-28s %s %q %d\n", what, p.SKU, p.Name, p.Price)
	}

	fmt.Println("cacheable:")
	p, err := svc.getProduct(ctx, "tea")
	show("  getProduct(tea)", p, err)
	p, err = svc.getProduct(ctx, "tea")
	show("  getProduct(tea) again", p, err)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { svc.getProduct(ctx, "mug") })
	}
	wg.Wait()
	fmt.Println("  50 concurrent getProduct(mug): one query")
	for range 2 {
		p, err = svc.getProduct(ctx, "cup")
		show("  getProduct(cup)", p, err)
	}

	fmt.Println("put:")
	p, err = svc.saveProduct(ctx, Product{"tea", "Green tea", 500})
	show("  saveProduct(tea, 500)", p, err)
	p, err = svc.getProduct(ctx, "tea")
	show("  getProduct(tea)", p, err)
	p, err = svc.saveProduct(ctx, Product{"tea", "Green tea", -1})
	show("  saveProduct(tea, -1)", p, err)
	p, err = svc.getProduct(ctx, "tea")
	show("  getProduct(tea)", p, err)

	fmt.Println("evict:")
	err = svc.deleteProduct(ctx, "mug")
	fmt.Printf("%-28s %v\n", "  deleteProduct(mug)", err)
	p, err = svc.getProduct(ctx, "mug")
	show("  getProduct(mug)", p, err)

	m := products.MetricsSnapshot()
	fmt.Printf("\n%d queries for 60 calls; the cache loaded %d times and answered %d reads with a negative entry; %d cache failures ignored\n",
		db.queries, m.Loads, m.NullHits, stats.Ignored())
}
