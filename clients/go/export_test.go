package forkjournal

// DialCount is how many connections c has dialled (for tests).
func DialCount(c *Client) uint64 { return c.dials.Load() }
