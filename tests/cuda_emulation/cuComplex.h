#pragma once
struct cuDoubleComplex { double x, y; };
struct cuComplex { float x, y; };
inline cuDoubleComplex make_cuDoubleComplex(double a, double b) { return {a, b}; }
inline cuComplex make_cuComplex(float a, float b) { return {a, b}; }
