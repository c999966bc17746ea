package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accelerator-go/accelerator"
	"github.com/accelerator-go/accelerator/backend"
	"github.com/accelerator-go/accelerator/metrics"
)

// Config configures a [Service]. The zero value is a local-only cache with the
// accelerator defaults.
type Config struct {
	// Remote is the Redis layer, usually a rueidisremote.Remote. Without it the cache
	// is local only.
	Remote backend.Remote
	// Mode selects the layers. Default: ModeBoth with a Remote, ModeLocal without.
	Mode accelerator.Mode
	// KeyPrefix is put before every Redis key, such as "example:pg:".
	KeyPrefix string
	// LocalTTL and RemoteTTL are the freshness of a cached user in each layer.
	// Default: the accelerator defaults (one and ten minutes).
	LocalTTL, RemoteTTL time.Duration
	// Tracer receives a span per cache operation past L1 (see accelerator.Tracer).
	// Default none.
	//
	// TODO(otel): main sets the tracer of the OpenTelemetry integration module here
	// once it is in the repository; see docs/local-stack.md.
	Tracer accelerator.Tracer
}

// invalidateTimeout bounds the cache delete that follows a commit.
const invalidateTimeout = 2 * time.Second

// Service reads users through the cache and writes them to the database first.
//
// Reads: [Service.Get] and [Service.GetMany] go L1, then Redis, then the [Store]:
// one query per missed key, or one per batch of missed keys. A user that does not
// exist is remembered as "not found" for 30 s, so that repeated reads of a missing id
// do not reach the database.
//
// Writes ([Service.Create], [Service.Update], [Service.Delete]) run in a transaction
// and, only once it is committed, delete the user's key from the cache, so that the
// next read loads the committed row. The order matters: invalidating before the
// commit lets a concurrent read load the old row again and cache it for the whole
// TTL; writing the new value into the cache instead of deleting it lets two writers
// race and leave the older value cached. A rolled-back transaction leaves the cache
// alone: the database did not change.
//
// With Redis and both layers (the default with a Remote), the cache also broadcasts
// every write on the area's invalidation channel (Options.BroadcastInvalidation), so
// that the other instances drop their L1 copy at once instead of serving it until it
// expires.
type Service struct {
	db    *pgxpool.Pool
	cache *accelerator.Cache[int64, User]
}

// NewService returns a Service over db with a cache configured by cfg.
func NewService(db *pgxpool.Pool, cfg Config) (*Service, error) {
	store := NewStore(db)
	both := cfg.Remote != nil && (cfg.Mode == accelerator.ModeBoth || cfg.Mode == accelerator.ModeDefault)
	cache, err := accelerator.New(accelerator.Options[int64, User]{
		Area:                  "users",
		KeyPrefix:             cfg.KeyPrefix,
		Mode:                  cfg.Mode,
		Remote:                cfg.Remote,
		BroadcastInvalidation: both,
		LocalTTL:              cfg.LocalTTL,
		RemoteTTL:             cfg.RemoteTTL,
		Tracer:                cfg.Tracer,
		CacheNullValue:        true,
		NullTTL:               30 * time.Second,
		Loader:                store,
		MLoader:               store,
	})
	if err != nil {
		return nil, err
	}
	return &Service{db: db, cache: cache}, nil
}

// Close closes the cache. It closes neither the database pool nor the Remote.
func (s *Service) Close() error {
	return s.cache.Close()
}

// Get returns user id. found is false when there is no such user.
func (s *Service) Get(ctx context.Context, id int64) (u User, found bool, err error) {
	return s.cache.Get(ctx, id)
}

// GetMany returns the users of ids that exist, with at most one query for all the
// ids no cache layer holds.
func (s *Service) GetMany(ctx context.Context, ids []int64) (map[int64]User, error) {
	return s.cache.MGet(ctx, ids)
}

// Create inserts u, then invalidates u.ID: the cache may remember that it did not
// exist.
func (s *Service) Create(ctx context.Context, u User) error {
	return s.write(ctx, u.ID, func(tx pgx.Tx) error { return insert(ctx, tx, u) })
}

// Update sets the name and email of user u.ID, then invalidates it. It returns an
// error wrapping [ErrNotFound] when there is no such user.
func (s *Service) Update(ctx context.Context, u User) error {
	return s.write(ctx, u.ID, func(tx pgx.Tx) error { return update(ctx, tx, u) })
}

// Delete deletes user id, then invalidates it. It returns an error wrapping
// [ErrNotFound] when there is no such user.
func (s *Service) Delete(ctx context.Context, id int64) error {
	return s.write(ctx, id, func(tx pgx.Tx) error { return remove(ctx, tx, id) })
}

// write runs f in a transaction and, once the transaction is committed, deletes id
// from every layer of the cache.
func (s *Service) write(ctx context.Context, id int64, f func(pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, s.db, f); err != nil {
		return err // rolled back: the cache still matches the database
	}
	// Committed: the cached copy is stale from now on. Drop it even if the caller
	// has gone away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invalidateTimeout)
	defer cancel()
	err := s.cache.Del(ctx, id)
	switch {
	case errors.Is(err, accelerator.ErrNotBroadcast):
		return fmt.Errorf("users: user %d is committed and dropped from Redis, but other instances may serve their L1 copy until it expires: %w", id, err)
	case err != nil:
		return fmt.Errorf("users: user %d is committed but its cached copy could not be dropped and may be served until it expires: %w", id, err)
	}
	return nil
}

// Evict drops ids from every layer of the cache, leaving the database alone: the next
// read of each loads it again.
func (s *Service) Evict(ctx context.Context, ids []int64) error {
	return s.cache.MDel(ctx, ids)
}

// WaitSubscribed waits until the cache receives the other instances' invalidations,
// or ctx ends. It returns at once without broadcast invalidation (no Redis, or one
// layer only). A service calls it on start: the first subscription drops L1, since
// messages may have been missed before it.
func (s *Service) WaitSubscribed(ctx context.Context) error {
	for {
		st := s.cache.SubscriberState()
		if !st.Enabled || st.Connected {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("users: invalidation subscriber not connected: %w", context.Cause(ctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// MetricPoints returns the cache's counters and gauges as metric points, named as the
// exporters name them.
func (s *Service) MetricPoints() []metrics.Point {
	return metrics.Points(s.cache.MetricsSnapshot(), s.cache.Status())
}

// Metrics returns the cache's counters.
func (s *Service) Metrics() accelerator.MetricsSnapshot {
	return s.cache.MetricsSnapshot()
}
