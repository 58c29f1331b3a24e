"""HTTP only: routes, request parsing, GitHub's headers and error bodies."""
