"""Writing data into a server without the SDK: :mod:`.builder` (the seeding API), :mod:`.demo`
(the demo data set) and :mod:`.scale` (many synthetic runs, for scale tests).
"""
