// Command goempty is an empty Go program: the start-up that every Go
// program pays, the yardstick of nsrun's own start-up (make bench).
package main

func main() {}
