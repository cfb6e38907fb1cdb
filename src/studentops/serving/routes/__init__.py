"""HTTP routes: thin translations from requests to calls on the serving state."""
