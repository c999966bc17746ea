package main

func Example_main() {
	main()
	// Output:
	// cacheable:
	//     db: SELECT tea
	//   getProduct(tea)            tea "Green tea" 450
	//   getProduct(tea) again      tea "Green tea" 450
	//     db: SELECT mug
	//   50 concurrent getProduct(mug): one query
	//     db: SELECT cup
	//   getProduct(cup)            error: no such product
	//   getProduct(cup)            error: no such product
	// put:
	//     db: UPDATE tea
	//   saveProduct(tea, 500)      tea "Green tea" 500
	//   getProduct(tea)            tea "Green tea" 500
	//     db: UPDATE tea
	//   saveProduct(tea, -1)       error: price must not be negative
	//   getProduct(tea)            tea "Green tea" 500
	// evict:
	//     db: DELETE mug
	//   deleteProduct(mug)         <nil>
	//     db: SELECT mug
	//   getProduct(mug)            error: no such product
	//
	// 7 queries for 60 calls; the cache loaded 4 times and answered 1 reads with a negative entry; 0 cache failures ignored
}
