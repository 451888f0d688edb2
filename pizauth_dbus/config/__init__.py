"""The pizauth.conf language, which both processes read: the lexicon, the options, the checked
model, the checker, positioned diagnostics, the scanner that reads a file and the pyparsing
grammar that explains a broken one. The entry point is :mod:`pizauth_dbus.config.loader`.

Imports only the shared leaves at the package's top (errors, paths); never cli, doctor, oauth or
server.
"""
