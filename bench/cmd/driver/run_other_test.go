//go:build !linux

package main

func prepareTests() error { return nil }
