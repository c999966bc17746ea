package stale

// newRepo uses the names the generated file declares: with the old file blanked out
// they are undefined while the generator runs, which must not stop it.
func newRepo(inner Repo, caches RepoCaches) (Repo, error) { return NewCachedRepo(inner, caches) }
