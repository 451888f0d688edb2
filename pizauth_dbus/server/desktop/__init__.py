"""The server's native desktop notifications: what is shown and when, the words, the
notification service, the ids left on screen, and the browser a click opens.
"""
