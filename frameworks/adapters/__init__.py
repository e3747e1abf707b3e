"""One adapter per framework: everything that needs a framework imported lives here (see ``base.Adapter``)."""
