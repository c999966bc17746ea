package accelerator

// Test switches of the invalidator, for the tests of package accelerator_test that
// show their mechanism is what makes them pass.
var (
	SwitchUnorderedPublish = &testUnorderedPublish
	SwitchNoSilenceRule    = &testNoSilenceRule
	SwitchMarksNeverAge    = &testMarksNeverAge
	SwitchTrackingKeepsL1  = &testTrackingKeepsL1
)
