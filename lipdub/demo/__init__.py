"""Demo and test material, kept out of the library proper: a talking face animated from
scikit-image's astronaut photo (`lipdub.demo.face`) and speech synthesized from syllables
(`lipdub.demo.speech`). `lipdub demo`, `lipdub bench` and the tests build their samples here;
nothing in the product's own path imports it.
"""
