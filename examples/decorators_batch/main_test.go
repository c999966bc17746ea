package main

func Example_main() {
	main()
	// Output:
	//     db: SELECT price WHERE sku = ANY [mug tea]
	// getPrices(tea, mug)                    mug=900 tea=450
	//     db: SELECT price WHERE sku = ANY [cup pot spoon]
	// getPrices(tea, mug, pot, cup, spoon)   cup=300 mug=900 pot=2500 tea=450
	// the same again                         cup=300 mug=900 pot=2500 tea=450
	//     db: UPDATE price WHERE sku = ANY [pot tea]
	// applyDiscount(tea, pot, 20%)           <nil>
	//     db: SELECT price WHERE sku = ANY [pot tea]
	// getPrices(tea, mug, pot)               mug=900 pot=2000 tea=360
	//
	// 4 queries for 5 calls over 17 keys
}
