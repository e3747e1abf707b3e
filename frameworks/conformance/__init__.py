"""The conformance kit: what a framework's adapter must do, checked against an oracle shipped with the suite.

A plugin author runs it against their framework, from any directory, with the suite installed::

    pytest --pyargs frameworks.conformance --frameworks my-framework

It checks, for every network of the zoo (``--networks`` narrows them) and each of the framework's CPU variants:
the parameter count, the shape and dtype of every output, probabilities that sum to one, the canonical weight
round trip, refused bad inputs, and the forward pass and every layer's output against ``reference`` (a float64
numpy forward pass from the canonical weights, in this package). Training adapters are checked for a finite loss,
canonical gradients and an update that changes the weights; an inference runtime's training checks skip with
the reason. Gradient *values* and training curves are proven against the built-in frameworks by the suite's own
equivalence tests, from a checkout (``pytest tests/test_equivalence.py --frameworks my-framework,pytorch``).
"""
