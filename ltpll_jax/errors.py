"""Errors that the launcher turns into exit status 2 and one line on stderr."""


class InputError(ValueError):
  """A bad configuration value or bad input data.

  The message is one line that names the key or file, the value and what is
  allowed; ``launch.py`` prints it and exits with status 2.
  """


class DataUnavailableError(InputError):
  """A data set is neither on disk nor downloadable; the message says what to
  do (which files to put where, which config keys to set)."""
