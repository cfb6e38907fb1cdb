"""Privacy: retention purges, erasure of one student, and rotation of the pseudonym key."""
